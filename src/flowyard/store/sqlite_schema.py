"""The head schema of the metadata database as SQLite DDL: what `metadata.create_all` emits.

An empty SQLite database gets its tables from these statements (native_sqlite.py), so that a
first `flowyard run` does not import SQLAlchemy to build them. Generated from schema.py's
MetaData (the run, data and login tables) by

    python -m flowyard.store.sqlite_schema --write

and checked by a test that renders it again: change schema.py (and add its migration), then
regenerate. Alembic stamps the result at REVISION, as for any other new database.
"""

from __future__ import annotations

from typing import Final

REVISION: Final = "0005"
"""The migration these statements are the result of (a test compares it with HEAD_REVISION)."""

STATEMENTS: Final[tuple[str, ...]] = (
    (
        'CREATE TABLE auth_users (\n'
        '\tname VARCHAR(63) NOT NULL, \n'
        '\tpassword_hash TEXT, \n'
        '\tis_admin BOOLEAN NOT NULL, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tCONSTRAINT pk_auth_users PRIMARY KEY (name)\n'
        ')'
    ),
    (
        'CREATE TABLE data_blobs (\n'
        '\tdigest VARCHAR(80) NOT NULL, \n'
        '\tkind VARCHAR(8) NOT NULL, \n'
        '\tsize BIGINT NOT NULL, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tCONSTRAINT pk_data_blobs PRIMARY KEY (digest)\n'
        ')'
    ),
    (
        'CREATE TABLE data_chunks (\n'
        '\tdigest VARCHAR(80) NOT NULL, \n'
        '\tpack VARCHAR(80) NOT NULL, \n'
        '\t"offset" BIGINT NOT NULL, \n'
        '\tlength INTEGER NOT NULL, \n'
        '\tCONSTRAINT pk_data_chunks PRIMARY KEY (digest)\n'
        ')'
    ),
    (
        'CREATE INDEX ix_data_chunks_pack ON data_chunks (pack)'
    ),
    (
        'CREATE TABLE data_jobs (\n'
        '\tid VARCHAR(32) NOT NULL, \n'
        '\tpipeline VARCHAR(253) NOT NULL, \n'
        '\tstate VARCHAR(16) NOT NULL, \n'
        '\tinputs JSON NOT NULL, \n'
        '\toutput_commit VARCHAR(32), \n'
        '\ttransform_hash VARCHAR(80) NOT NULL, \n'
        '\tstats JSON NOT NULL, \n'
        '\tdatums JSON NOT NULL, \n'
        '\tfailures JSON NOT NULL, \n'
        '\twarnings JSON NOT NULL, \n'
        '\terror TEXT, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tfinished_at DATETIME, \n'
        '\tdriver_pid INTEGER, \n'
        '\tdriver_host VARCHAR(253), \n'
        '\tCONSTRAINT pk_data_jobs PRIMARY KEY (id)\n'
        ')'
    ),
    (
        'CREATE INDEX ix_data_jobs_pipeline_created_at ON data_jobs (pipeline, '
        'created_at)'
    ),
    (
        'CREATE TABLE data_repos (\n'
        '\tname VARCHAR(63) NOT NULL, \n'
        '\tdescription TEXT NOT NULL, \n'
        '\towner VARCHAR(253), \n'
        '\tlabels JSON NOT NULL, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        "\tnamespace VARCHAR(253) DEFAULT 'default' NOT NULL, \n"
        '\tCONSTRAINT pk_data_repos PRIMARY KEY (name)\n'
        ')'
    ),
    (
        'CREATE INDEX ix_data_repos_namespace_name ON data_repos (namespace, '
        'name)'
    ),
    (
        'CREATE TABLE resources (\n'
        '\tkind VARCHAR(64) NOT NULL, \n'
        '\tnamespace VARCHAR(253) NOT NULL, \n'
        '\tname VARCHAR(253) NOT NULL, \n'
        '\tgeneration INTEGER NOT NULL, \n'
        '\tbody JSON NOT NULL, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tupdated_at DATETIME NOT NULL, \n'
        '\tCONSTRAINT pk_resources PRIMARY KEY (kind, namespace, name)\n'
        ')'
    ),
    (
        'CREATE TABLE runs (\n'
        '\tid VARCHAR(128) NOT NULL, \n'
        '\tnamespace VARCHAR(253) NOT NULL, \n'
        '\tpipeline_name VARCHAR(253) NOT NULL, \n'
        '\tpipeline JSON NOT NULL, \n'
        '\tparameters JSON NOT NULL, \n'
        '\tstate VARCHAR(16) NOT NULL, \n'
        '\toptions JSON NOT NULL, \n'
        '\toutputs JSON NOT NULL, \n'
        '\terror TEXT, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tstarted_at DATETIME, \n'
        '\tfinished_at DATETIME, \n'
        '\tdriver_pid INTEGER, \n'
        '\tdriver_host VARCHAR(253), \n'
        '\tlabels JSON NOT NULL, \n'
        '\tCONSTRAINT pk_runs PRIMARY KEY (id)\n'
        ')'
    ),
    (
        'CREATE INDEX ix_runs_created_at_id ON runs (created_at, id)'
    ),
    (
        'CREATE INDEX ix_runs_namespace_created_at ON runs (namespace, '
        'created_at)'
    ),
    (
        'CREATE INDEX ix_runs_pipeline_name_created_at ON runs (pipeline_name, '
        'created_at)'
    ),
    (
        'CREATE INDEX ix_runs_state ON runs (state)'
    ),
    (
        'CREATE TABLE artifacts (\n'
        '\tid VARCHAR(128) NOT NULL, \n'
        '\trun_id VARCHAR(128) NOT NULL, \n'
        '\tstep_id VARCHAR(512) NOT NULL, \n'
        '\tname VARCHAR(253) NOT NULL, \n'
        '\ttype VARCHAR(128) NOT NULL, \n'
        '\tdigest VARCHAR(80) NOT NULL, \n'
        '\tsize BIGINT NOT NULL, \n'
        '\tis_tree BOOLEAN NOT NULL, \n'
        '\turi TEXT NOT NULL, \n'
        '\tmetadata JSON NOT NULL, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tCONSTRAINT pk_artifacts PRIMARY KEY (id), \n'
        '\tCONSTRAINT fk_artifacts_run_id_runs FOREIGN KEY(run_id) REFERENCES '
        'runs (id) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE INDEX ix_artifacts_digest ON artifacts (digest)'
    ),
    (
        'CREATE INDEX ix_artifacts_run_id ON artifacts (run_id)'
    ),
    (
        'CREATE TABLE auth_profiles (\n'
        '\tname VARCHAR(253) NOT NULL, \n'
        '\towner VARCHAR(63) NOT NULL, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tCONSTRAINT pk_auth_profiles PRIMARY KEY (name), \n'
        '\tCONSTRAINT fk_auth_profiles_owner FOREIGN KEY(owner) REFERENCES '
        'auth_users (name) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE TABLE auth_tokens (\n'
        '\tid VARCHAR(32) NOT NULL, \n'
        '\tuser_name VARCHAR(63) NOT NULL, \n'
        '\tdigest VARCHAR(64) NOT NULL, \n'
        '\tdescription TEXT NOT NULL, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tCONSTRAINT pk_auth_tokens PRIMARY KEY (id), \n'
        '\tCONSTRAINT fk_auth_tokens_user FOREIGN KEY(user_name) REFERENCES '
        'auth_users (name) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE INDEX ix_auth_tokens_user_name ON auth_tokens (user_name)'
    ),
    (
        'CREATE TABLE cache_entries (\n'
        '\t"key" VARCHAR(128) NOT NULL, \n'
        '\trun_id VARCHAR(128) NOT NULL, \n'
        '\tstep_id VARCHAR(512) NOT NULL, \n'
        '\toutputs JSON NOT NULL, \n'
        '\toutput_artifacts JSON NOT NULL, \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tCONSTRAINT pk_cache_entries PRIMARY KEY ("key"), \n'
        '\tCONSTRAINT fk_cache_entries_run_id_runs FOREIGN KEY(run_id) REFERENCES '
        'runs (id) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE INDEX ix_cache_entries_run_id ON cache_entries (run_id)'
    ),
    (
        'CREATE TABLE data_branches (\n'
        '\trepo VARCHAR(63) NOT NULL, \n'
        '\tname VARCHAR(253) NOT NULL, \n'
        '\thead VARCHAR(32), \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tupdated_at DATETIME NOT NULL, \n'
        '\tCONSTRAINT pk_data_branches PRIMARY KEY (repo, name), \n'
        '\tCONSTRAINT fk_data_branches_repo_data_repos FOREIGN KEY(repo) '
        'REFERENCES data_repos (name) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE TABLE data_commits (\n'
        '\tid VARCHAR(32) NOT NULL, \n'
        '\trepo VARCHAR(63) NOT NULL, \n'
        '\tbranch VARCHAR(253), \n'
        '\tparent_id VARCHAR(32), \n'
        '\tparents JSON NOT NULL, \n'
        '\tstate VARCHAR(8) NOT NULL, \n'
        '\torigin VARCHAR(32) NOT NULL, \n'
        '\tmessage TEXT NOT NULL, \n'
        '\ttree VARCHAR(80), \n'
        '\tfiles BIGINT NOT NULL, \n'
        '\tbytes BIGINT NOT NULL, \n'
        '\tinfo JSON NOT NULL, \n'
        '\tstaged JSON NOT NULL, \n'
        '\tpid INTEGER, \n'
        '\thost VARCHAR(253), \n'
        '\tcreated_at DATETIME NOT NULL, \n'
        '\tfinished_at DATETIME, \n'
        '\tCONSTRAINT pk_data_commits PRIMARY KEY (id), \n'
        '\tCONSTRAINT fk_data_commits_repo_data_repos FOREIGN KEY(repo) '
        'REFERENCES data_repos (name) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE INDEX ix_data_commits_parent_id ON data_commits (parent_id)'
    ),
    (
        'CREATE INDEX ix_data_commits_repo_created_at ON data_commits (repo, '
        'created_at)'
    ),
    (
        'CREATE INDEX ix_data_commits_state ON data_commits (state)'
    ),
    (
        'CREATE TABLE steps (\n'
        '\tseq INTEGER NOT NULL, \n'
        '\trun_id VARCHAR(128) NOT NULL, \n'
        '\tstep_id VARCHAR(512) NOT NULL, \n'
        '\tname VARCHAR(253) NOT NULL, \n'
        '\titeration INTEGER, \n'
        '\tcomponent VARCHAR(253) NOT NULL, \n'
        '\tstate VARCHAR(16) NOT NULL, \n'
        '\tattempt INTEGER NOT NULL, \n'
        '\tstarted_at DATETIME, \n'
        '\tfinished_at DATETIME, \n'
        '\tcache_hit BOOLEAN NOT NULL, \n'
        '\tcache_key VARCHAR(128), \n'
        '\tinputs JSON NOT NULL, \n'
        '\toutputs JSON NOT NULL, \n'
        '\tinput_artifacts JSON NOT NULL, \n'
        '\toutput_artifacts JSON NOT NULL, \n'
        '\texit_code INTEGER, \n'
        '\terror TEXT, \n'
        '\tlog_path TEXT, \n'
        '\tlog_digest VARCHAR(128), \n'
        '\tresources JSON NOT NULL, \n'
        '\tpid INTEGER, \n'
        '\tCONSTRAINT pk_steps PRIMARY KEY (seq), \n'
        '\tCONSTRAINT uq_steps_run_id_step_id UNIQUE (run_id, step_id), \n'
        '\tCONSTRAINT fk_steps_run_id_runs FOREIGN KEY(run_id) REFERENCES runs '
        '(id) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE TABLE auth_profile_members (\n'
        '\tprofile VARCHAR(253) NOT NULL, \n'
        '\tuser_name VARCHAR(63) NOT NULL, \n'
        '\trole VARCHAR(8) NOT NULL, \n'
        '\tCONSTRAINT pk_auth_profile_members PRIMARY KEY (profile, user_name), \n'
        '\tCONSTRAINT fk_auth_members_profile FOREIGN KEY(profile) REFERENCES '
        'auth_profiles (name) ON DELETE CASCADE, \n'
        '\tCONSTRAINT fk_auth_members_user FOREIGN KEY(user_name) REFERENCES '
        'auth_users (name) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE INDEX ix_auth_profile_members_user_name ON auth_profile_members '
        '(user_name)'
    ),
    (
        'CREATE TABLE data_provenance (\n'
        '\tcommit_id VARCHAR(32) NOT NULL, \n'
        '\tsource_id VARCHAR(32) NOT NULL, \n'
        '\tCONSTRAINT pk_data_provenance PRIMARY KEY (commit_id, source_id), \n'
        '\tCONSTRAINT fk_data_provenance_commit_id_data_commits FOREIGN '
        'KEY(commit_id) REFERENCES data_commits (id) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE INDEX ix_data_provenance_source_id ON data_provenance (source_id)'
    ),
    (
        'CREATE TABLE step_inputs (\n'
        '\trun_id VARCHAR(128) NOT NULL, \n'
        '\tstep_id VARCHAR(512) NOT NULL, \n'
        '\tname VARCHAR(253) NOT NULL, \n'
        '\tartifact_id VARCHAR(128) NOT NULL, \n'
        '\tCONSTRAINT pk_step_inputs PRIMARY KEY (run_id, step_id, name), \n'
        '\tCONSTRAINT fk_step_inputs_run_id_step_id_steps FOREIGN KEY(run_id, '
        'step_id) REFERENCES steps (run_id, step_id) ON DELETE CASCADE\n'
        ')'
    ),
    (
        'CREATE INDEX ix_step_inputs_artifact_id ON step_inputs (artifact_id)'
    ),
)


def render() -> tuple[str, ...]:
    """The statements from schema.py, as SQLAlchemy's SQLite dialect writes them: each table
    in dependency order (as create_all), followed by its indexes by name."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    from flowyard.store.schema import metadata

    dialect = sqlite.dialect()
    out: list[str] = []
    for table in metadata.sorted_tables:
        out.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            out.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
    return tuple(out)


def module_source() -> str:
    """This module's text for the current schema.py (what the command prints)."""
    from flowyard.store.metadata import HEAD_REVISION

    with open(__file__, encoding="utf-8") as handle:
        own = handle.read()
    head, _, rest = own.partition("STATEMENTS: Final[tuple[str, ...]] = (\n")
    _, _, tail = ("\n" + rest).partition("\n)\n")
    body = "".join(_literal(statement) for statement in render())
    head = head.replace(f'REVISION: Final = "{REVISION}"', f'REVISION: Final = "{HEAD_REVISION}"')
    return f"{head}STATEMENTS: Final[tuple[str, ...]] = (\n{body})\n{tail}"


def _literal(statement: str) -> str:
    """One statement as implicitly joined string literals, one source line each (<= 100)."""
    pieces: list[str] = []
    for line in statement.splitlines(keepends=True):
        while len(line) > 72:   # at a space, so the text is unchanged when joined
            cut = line.rindex(" ", 0, 72) + 1
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    return "    (\n" + "".join(f"        {p!r}\n" for p in pieces) + "    ),\n"


if __name__ == "__main__":
    import sys

    text = module_source()   # read before writing: the text comes from this very file
    if "--write" in sys.argv:
        with open(__file__, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
