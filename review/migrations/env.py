"""Alembic environment for the review store. Run in-process by review.db.upgrade, which hands over
an open connection; no alembic.ini and no URL in the working directory."""

from alembic import context

from review.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the review migrations with `jiyu review db upgrade` (review.db.upgrade)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
