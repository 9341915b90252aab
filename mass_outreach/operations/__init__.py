"""The store's operations under the `OutreachStore` facade: the rows and their errors (`rows`), the write
transactions (`writes`), the one bulk pipeline (`bulk`) and the page-number walk cache (`walks`)."""
