"""
The operator's analytics: the usage dashboard's and the funnel's numbers, and the roll-up that keeps them fast.

A package of the accounts app, split by topic:

- models.py       RequestLog and the roll-up tables (accounts' models: app label, tables and migrations)
- middleware.py   RequestLogMiddleware: one RequestLog row per HTTP synthesis request
- measures.py     what is counted (RequestLog and the UsageRecord ledger) and how a filter selects rows
- periods.py      days, ranges of days and time buckets
- sql.py          the SQL expressions that SQLite and PostgreSQL spell differently
- concurrency.py  peak concurrency, a sweep line in SQL
- percentiles.py  latency percentiles from histograms, exact or within 9%
- rollup.py       `manage.py rollup_usage`: a past day's raw rows into the roll-up tables
- dashboard.py    the usage dashboard (and an organization's chart), from roll-ups and raw rows
- funnel.py       the marketing funnel, and its daily roll-up
- admin.py        the request log in the admin, with the dashboard's and the funnel's URLs
- admin_views.py  the usage dashboard and funnel pages
- tables.py       a table as shown and as exported to CSV
- charts.py       the pages' SVG charts

Nothing is imported here, so `import accounts.analytics.<module>` loads only what it names.
"""
