"""The bill-run engine (DOMAIN.md section 4).

- rating: what is due for one subscription charge up to the target date (pure, no queries);
- rules: the Invoice/Credit Memo generation rule, turning an account's due lines into documents;
- chunk: bills a chunk of accounts with a fixed number of set-based statements;
- runner: plans chunks, leases them to workers, takes over stalled ones, finishes the run;
- services: what an operator does to a run (create, post, cancel, delete, retry failed accounts).
"""
