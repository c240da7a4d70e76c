"""The review store: SQLModel tables, keyword-only query functions taking a session, migrations."""
