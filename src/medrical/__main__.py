"""`python -m medrical`: the same command line as `medrical`."""

from medrical.cli import main

if __name__ == "__main__":
    main()
