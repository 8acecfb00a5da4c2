"""`python -m jobservice ...`: the same as the `jobservice` console script."""

from jobservice.client.cli import main

if __name__ == "__main__":
    main()
