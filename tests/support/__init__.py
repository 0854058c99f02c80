"""What the tests (and the benchmarks) share: databases, servers, catalogs and requests.

- `databases`: the backends, a migrated database of each, emptying one between tests.
- `servers`: `start_server`, the one way to run `openims serve`, and the `Server` interface
  tests talk to.
- `fixtures`: the server fixtures `conftest.py` and test modules declare, built by one helper.
- `catalogs`: image documents built field by field, and `load`, the one catalog loader (the
  benchmarks build their catalogs with it too).
- `seeds`, `signing`, `app_routes`: the IMS examples, SDK-signed requests, the app's routes.
"""
