"""`python -m controller` is the `idmctl` command."""

from controller.cli import main

if __name__ == "__main__":
    main()
