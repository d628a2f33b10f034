"""The faust app writes its tables' changelogs to the topics the core declares (settings, topics.py)."""

from __future__ import annotations

from streams.app import create_app
from swarmstream.settings import Settings


def test_the_tables_changelogs_are_the_declared_topics(tmp_path):
    settings = Settings(bootstrap_servers="127.0.0.1:1", data_dir=str(tmp_path), topic_prefix="declared")
    app = create_app(settings).app
    changelogs = {name: table.changelog_topic.get_topic_name() for name, table in app.tables.items()}
    assert changelogs == {
        settings.profiles_table: settings.profiles_changelog_topic,
        settings.feeds_table: settings.feeds_changelog_topic,
    }
