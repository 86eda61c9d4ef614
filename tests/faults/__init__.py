"""The fault-injection suite (issue 14): a production host's processes, broken on purpose in
the middle of work, and what must hold afterwards.

Every test gets its own world (tests/faults/conftest.py), removed afterwards whatever
happened: a private PostgreSQL cluster (`cluster`: start, stop, restart, kill9, url; never the
shared server on 5432), the schema by `flask db upgrade` and the test data (`seeded`), an SMTP
server that records what it accepts (`smtp`), gunicorn with 4 workers (`app_server`: its
workers, kill_worker, reload) and one mail worker (`mail`). `host_env` is their environment;
a further process (a second mail worker, a command) runs with it as they do.

A fault test reads as:

    with rush(app_server.port, seeded) as load:   # threads booking through the API v1
        load.wait_for(20)
        ...                                       # the fault, while requests are in flight
        load.wait_for(load.count() + 20)          # the system answers again
    checks.assert_sound(cluster.url(), load.recorded(), smtp.received)

`checks.assert_sound` is the three checks: the booking invariants (for every slot `booked`
equals the seats held), every 201 has its appointment, every e-mail of the outbox delivered
exactly once by Message-ID with none left to send (after waiting for the mail worker).

The modules: cluster.py (the PostgreSQL cluster), servers.py (migrations, gunicorn, the mail
worker, a slow SMTP server), data.py (the office, its slots, clerks and tickets, on the real
clock), load.py (an HTTP client and the load generator), checks.py (the checks).
Every test here is marked slow and bounded to about a minute.
"""
