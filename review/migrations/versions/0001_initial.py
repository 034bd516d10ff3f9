"""The review store: items with their evidence and conversations, reviews, appeals, users and
teams, imports and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-05-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_key', sa.String(length=64), nullable=False),
    sa.Column('conversation_id', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=50), nullable=True),
    sa.Column('agent_id', sa.String(length=100), nullable=True),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('turns', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations')),
    sa.UniqueConstraint('import_key', name=op.f('uq_conversations_import_key'))
    )
    op.create_index(op.f('ix_conversations_conversation_id'), 'conversations', ['conversation_id'], unique=False)
    op.create_table('teams',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teams')),
    sa.UniqueConstraint('name', name=op.f('uq_teams_name'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_login_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("role IN ('reviewer', 'lead', 'admin')", name=op.f('ck_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('agents',
    sa.Column('agent_id', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_agents_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('agent_id', name=op.f('pk_agents'))
    )
    op.create_index(op.f('ix_agents_team_id'), 'agents', ['team_id'], unique=False)
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('entity', sa.String(length=50), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_entity', 'audit_log', ['entity', 'entity_id'], unique=False)
    op.create_index(op.f('ix_audit_log_user_id'), 'audit_log', ['user_id'], unique=False)
    op.create_table('imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('bad_lines', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_imports_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imports'))
    )
    op.create_table('team_members',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_members_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'team_id', name=op.f('pk_team_members'))
    )
    op.create_index(op.f('ix_team_members_team_id'), 'team_members', ['team_id'], unique=False)
    op.create_table('items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_key', sa.String(length=64), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.String(length=200), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('severity', sa.Integer(), nullable=True),
    sa.Column('mode', sa.String(length=16), nullable=True),
    sa.Column('lexicon_version', sa.String(length=64), nullable=True),
    sa.Column('model_version', sa.String(length=64), nullable=True),
    sa.Column('context_version', sa.String(length=64), nullable=True),
    sa.Column('conversation_pk', sa.Integer(), nullable=True),
    sa.Column('conversation_id', sa.String(length=200), nullable=True),
    sa.Column('agent_id', sa.String(length=100), nullable=True),
    sa.Column('channel', sa.String(length=50), nullable=True),
    sa.Column('turn_index', sa.Integer(), nullable=True),
    sa.Column('speaker', sa.String(length=100), nullable=True),
    sa.Column('start_time', sa.Double(), nullable=True),
    sa.Column('end_time', sa.Double(), nullable=True),
    sa.Column('deduction', sa.Double(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('final_category', sa.String(length=32), nullable=True),
    sa.Column('final_severity', sa.Integer(), nullable=True),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claim_expires', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('utterance', 'call_turn')", name=op.f('ck_items_kind')),
    sa.CheckConstraint("outcome IN ('confirmed', 'rejected') OR outcome IS NULL", name=op.f('ck_items_outcome')),
    sa.CheckConstraint("state IN ('pending', 'second_review', 'disputed', 'appealed', 'done')", name=op.f('ck_items_state')),
    sa.ForeignKeyConstraint(['claimed_by'], ['users.id'], name=op.f('fk_items_claimed_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_pk'], ['conversations.id'], name=op.f('fk_items_conversation_pk_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], name=op.f('fk_items_import_id_imports'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_items_team_id_teams'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_items')),
    sa.UniqueConstraint('import_key', name=op.f('uq_items_import_key'))
    )
    op.create_index(op.f('ix_items_agent_id'), 'items', ['agent_id'], unique=False)
    op.create_index(op.f('ix_items_category'), 'items', ['category'], unique=False)
    op.create_index(op.f('ix_items_channel'), 'items', ['channel'], unique=False)
    op.create_index('ix_items_claimed_by', 'items', ['claimed_by', 'claim_expires'], unique=False)
    op.create_index(op.f('ix_items_conversation_id'), 'items', ['conversation_id'], unique=False)
    op.create_index(op.f('ix_items_conversation_pk'), 'items', ['conversation_pk'], unique=False)
    op.create_index(op.f('ix_items_created_at'), 'items', ['created_at'], unique=False)
    op.create_index(op.f('ix_items_decision'), 'items', ['decision'], unique=False)
    op.create_index(op.f('ix_items_import_id'), 'items', ['import_id'], unique=False)
    op.create_index(op.f('ix_items_occurred_at'), 'items', ['occurred_at'], unique=False)
    op.create_index(op.f('ix_items_outcome'), 'items', ['outcome'], unique=False)
    op.create_index('ix_items_state_id', 'items', ['state', 'id'], unique=False)
    op.create_index('ix_items_state_score', 'items', ['state', 'score'], unique=False)
    op.create_index(op.f('ix_items_team_id'), 'items', ['team_id'], unique=False)
    op.create_table('appeals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.String(length=100), nullable=True),
    sa.Column('filed_by', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('filed_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'upheld', 'overturned')", name=op.f('ck_appeals_status')),
    sa.ForeignKeyConstraint(['filed_by'], ['users.id'], name=op.f('fk_appeals_filed_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_appeals_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resolved_by'], ['users.id'], name=op.f('fk_appeals_resolved_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appeals'))
    )
    op.create_index(op.f('ix_appeals_item_id'), 'appeals', ['item_id'], unique=False)
    op.create_index(op.f('ix_appeals_status'), 'appeals', ['status'], unique=False)
    op.create_table('evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('suggestion', sa.Text(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_evidence_item_id_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence'))
    )
    op.create_index('ix_evidence_category_item', 'evidence', ['category', 'item_id'], unique=False)
    op.create_index(op.f('ix_evidence_item_id'), 'evidence', ['item_id'], unique=False)
    op.create_index('ix_evidence_rule_item', 'evidence', ['rule_id', 'item_id'], unique=False)
    op.create_index('ix_evidence_source_item', 'evidence', ['source', 'item_id'], unique=False)
    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('round', sa.String(length=16), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('severity', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('undone_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("decision IN ('confirm', 'reject')", name=op.f('ck_reviews_decision')),
    sa.CheckConstraint("reason IN ('innocent_sense', 'quoting', 'wrong_speaker', 'asr_error', 'other') OR reason IS NULL", name=op.f('ck_reviews_reason')),
    sa.CheckConstraint("round IN ('first', 'second', 'lead', 'appeal')", name=op.f('ck_reviews_round')),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_reviews_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewer_id'], ['users.id'], name=op.f('fk_reviews_reviewer_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews'))
    )
    op.create_index(op.f('ix_reviews_item_id'), 'reviews', ['item_id'], unique=False)
    op.create_index('ix_reviews_reviewer_created', 'reviews', ['reviewer_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reviews_reviewer_created', table_name='reviews')
    op.drop_index(op.f('ix_reviews_item_id'), table_name='reviews')
    op.drop_table('reviews')
    op.drop_index('ix_evidence_source_item', table_name='evidence')
    op.drop_index('ix_evidence_rule_item', table_name='evidence')
    op.drop_index(op.f('ix_evidence_item_id'), table_name='evidence')
    op.drop_index('ix_evidence_category_item', table_name='evidence')
    op.drop_table('evidence')
    op.drop_index(op.f('ix_appeals_status'), table_name='appeals')
    op.drop_index(op.f('ix_appeals_item_id'), table_name='appeals')
    op.drop_table('appeals')
    op.drop_index(op.f('ix_items_team_id'), table_name='items')
    op.drop_index('ix_items_state_score', table_name='items')
    op.drop_index('ix_items_state_id', table_name='items')
    op.drop_index(op.f('ix_items_outcome'), table_name='items')
    op.drop_index(op.f('ix_items_occurred_at'), table_name='items')
    op.drop_index(op.f('ix_items_import_id'), table_name='items')
    op.drop_index(op.f('ix_items_decision'), table_name='items')
    op.drop_index(op.f('ix_items_created_at'), table_name='items')
    op.drop_index(op.f('ix_items_conversation_pk'), table_name='items')
    op.drop_index(op.f('ix_items_conversation_id'), table_name='items')
    op.drop_index('ix_items_claimed_by', table_name='items')
    op.drop_index(op.f('ix_items_channel'), table_name='items')
    op.drop_index(op.f('ix_items_category'), table_name='items')
    op.drop_index(op.f('ix_items_agent_id'), table_name='items')
    op.drop_table('items')
    op.drop_index(op.f('ix_team_members_team_id'), table_name='team_members')
    op.drop_table('team_members')
    op.drop_table('imports')
    op.drop_index(op.f('ix_audit_log_user_id'), table_name='audit_log')
    op.drop_index('ix_audit_log_entity', table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index(op.f('ix_agents_team_id'), table_name='agents')
    op.drop_table('agents')
    op.drop_table('users')
    op.drop_table('teams')
    op.drop_index(op.f('ix_conversations_conversation_id'), table_name='conversations')
    op.drop_table('conversations')
