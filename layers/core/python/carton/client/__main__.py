"""`python -m carton.client`: the `carton` command without its console script."""

from carton.client.cli import main

main()
