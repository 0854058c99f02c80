from openims.cli import main

main()
