"""Each circle has a time zone (an IANA name): its round deadlines are typed and shown in it, and stay stored in UTC.
Existing circles get UTC, so their deadlines read exactly as before.

Revision ID: g18tz_0001
Revises: g19ret_0002
Create Date: 2026-12-03 12:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "g18tz_0001"
down_revision = "g19ret_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("circles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("circles", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
