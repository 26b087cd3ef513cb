"""The recovery network: a closed portal for the professionals who help child victims recover.

Modelled on the Global Protection Online Network of the Marie Collins Foundation. Vetted members share
de-identified case studies and best practice, assess a child's recovery needs over time and their own
training needs. The core here imports no web framework; ``haven.portal.web`` is the thin shell.

    store.py         engine, sessions and migrations for the portal tables (``PortalStore``)
    actors.py        who is acting (member id, role) and the role checks every core call makes
    members.py       applications, vetting, suspension, leaving (export, then erasure)
    audit.py         the record of moderator actions
    library.py       resources with versions; Markdown and PDF (text extracted)
    search.py        full-text search: SQLite FTS5 or PostgreSQL, one results contract
    deid.py          the de-identification check (Presidio recognizers plus rules)
    casestudies.py   structured case studies, the check, moderation, comments
    assessments.py   assessment instruments (versioned), anonymised assessments, trajectories, aggregates
    surveys.py       surveys, rounds, responses, results per country/profession
    suppression.py   small-cell and complementary suppression of count tables
    charts.py        server-drawn SVG charts (bars, trajectories)
    discussions.py   topics, posts, moderation, subscriptions
    notify.py        e-mail notifications over SMTP
"""
