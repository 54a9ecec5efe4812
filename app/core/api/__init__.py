"""The owner's local control channel: a small HTTP API on 127.0.0.1 that other processes of the site (the CLI, a
second window) use to act through the process that owns the site. The local API grows from here."""
