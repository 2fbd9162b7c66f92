"""`python -m controller` is the `idmctl` command."""

from controller._startup import held_collector

if __name__ == "__main__":
    with held_collector():  # from the first import on (``cli.run`` holds it too, from its call on)
        from controller.cli import main

        main()
