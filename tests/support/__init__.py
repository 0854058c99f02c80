"""What the tests (and the benchmarks) share: databases, servers, catalogs and requests.

- `databases`: the backends, a migrated database of each, emptying one between tests.
- `servers`: `start_server`, the one way to run `openims serve` (tests and benchmarks), and
  the `Server` interface tests talk to; `in_process`: the same interface served by the
  application in the test process, for tests that only look at requests and responses.
- `fixtures`: the server fixtures `conftest.py` and test modules declare, built by one helper.
- `catalogs`: image documents built field by field, and `load`, the one catalog loader (the
  benchmarks build their catalogs with it too).
- `seeds`, `signing`, `app_routes`: the IMS examples, SDK-signed requests, the app's routes.
"""
