"""`python -m benchmarks`: run the benchmarks, print the table, write the JSON results."""

from .run import main

raise SystemExit(main())
