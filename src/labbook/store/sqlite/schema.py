"""The schema, version by version: each script is applied once, in order, by ``migrations``.

Append-only: a released script is never edited; a change of schema is a new script.
"""

V1 = """
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    uid           TEXT NOT NULL UNIQUE,
    name          TEXT,
    status        TEXT NOT NULL,
    created_at    REAL NOT NULL,
    started_at    REAL,
    ended_at      REAL,
    exit_code     INTEGER,
    note          TEXT,
    command       TEXT,
    cwd           TEXT,
    host          TEXT,
    pid           INTEGER,
    pid_started   REAL,
    boot_id       TEXT,
    heartbeat_at  REAL,
    source        TEXT NOT NULL,
    capture       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_name ON runs(name);

CREATE TABLE tags (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    tag    TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
) WITHOUT ROWID;
CREATE INDEX tags_tag ON tags(tag);

CREATE TABLE params (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT,      -- JSON of the value as given
    num    REAL,      -- numeric view (bools as 0/1) for comparisons
    text   TEXT,      -- string view for comparisons
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX params_key ON params(key);

CREATE TABLE metrics (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    count      INTEGER NOT NULL,
    nan_count  INTEGER NOT NULL,
    last       REAL,             -- NULL with last_nan = 1 when the last point was NaN
    last_nan   INTEGER NOT NULL DEFAULT 0,
    last_step  INTEGER,
    min        REAL,             -- NaN ignored, NULL when every point was NaN
    max        REAL,
    sum        REAL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX metrics_key ON metrics(key);
"""

V2 = """
CREATE TABLE summary (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT,
    num    REAL,
    text   TEXT,
    PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX summary_key ON summary(key);

CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
"""

V3 = """
CREATE TABLE hypotheses (
    id          INTEGER PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,
    text        TEXT NOT NULL,
    problem     TEXT,
    author      TEXT,
    created_at  REAL NOT NULL,
    outcome     TEXT,          -- supported / refuted / inconclusive, once resolved
    belief      TEXT,          -- the updated belief, in words
    resolved_at REAL
);

CREATE TABLE hypothesis_tags (
    hyp_id INTEGER NOT NULL REFERENCES hypotheses(id) ON DELETE CASCADE,
    tag    TEXT NOT NULL,
    PRIMARY KEY (hyp_id, tag)
) WITHOUT ROWID;

ALTER TABLE runs ADD COLUMN hyp_id INTEGER REFERENCES hypotheses(id);
CREATE INDEX runs_hyp ON runs(hyp_id);

CREATE TABLE predictions (
    id          INTEGER PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,
    hyp_id      INTEGER REFERENCES hypotheses(id),
    text        TEXT NOT NULL,
    kind        TEXT NOT NULL,  -- binary / numeric
    p           REAL,           -- binary: probability that it comes true
    low         REAL,           -- numeric: central interval at level
    high        REAL,
    level       REAL,
    point       REAL,
    metric      TEXT,           -- metric-tied: what resolves it
    agg         TEXT,
    reduce      TEXT,
    op          TEXT,
    value       REAL,
    min_runs    INTEGER,
    author      TEXT,
    created_at  REAL NOT NULL,
    due_at      REAL,
    late        INTEGER NOT NULL DEFAULT 0,
    revision_of INTEGER REFERENCES predictions(id),
    source      TEXT NOT NULL DEFAULT 'lab'
);
CREATE INDEX predictions_hyp ON predictions(hyp_id);
CREATE INDEX predictions_revision ON predictions(revision_of);

ALTER TABLE metrics ADD COLUMN first_at REAL;  -- when the first point reached the store
UPDATE metrics SET first_at = updated_at;

CREATE TABLE resolutions (
    prediction_id INTEGER PRIMARY KEY REFERENCES predictions(id),
    outcome       TEXT NOT NULL,  -- true / false / ambiguous (numeric: inside / outside)
    value         REAL,           -- numeric: the realised value
    how           TEXT NOT NULL,  -- auto / manual / import
    detail        TEXT,           -- JSON: runs and values behind an automatic resolution
    resolved_at   REAL NOT NULL
);
"""

V4 = """
CREATE TABLE notes (
    id          INTEGER PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,
    text        TEXT NOT NULL,
    hyp_id      INTEGER REFERENCES hypotheses(id),
    run_id      INTEGER REFERENCES runs(id),
    against     INTEGER NOT NULL DEFAULT 0,  -- evidence against hyp_id
    author      TEXT,
    created_at  REAL NOT NULL
);
CREATE INDEX notes_hyp ON notes(hyp_id);
CREATE INDEX notes_run ON notes(run_id);

CREATE VIRTUAL TABLE search USING fts5(kind UNINDEXED, ref UNINDEXED, title, body, tokenize = 'porter unicode61');

CREATE TRIGGER search_hyp_insert AFTER INSERT ON hypotheses BEGIN
    INSERT INTO search (kind, ref, title, body)
    VALUES ('hypothesis', new.id, new.text, coalesce(new.problem, '') || ' ' || coalesce(new.belief, ''));
END;
CREATE TRIGGER search_hyp_update AFTER UPDATE ON hypotheses BEGIN
    DELETE FROM search WHERE kind = 'hypothesis' AND ref = old.id;
    INSERT INTO search (kind, ref, title, body)
    VALUES ('hypothesis', new.id, new.text, coalesce(new.problem, '') || ' ' || coalesce(new.belief, ''));
END;
CREATE TRIGGER search_prediction_insert AFTER INSERT ON predictions BEGIN
    INSERT INTO search (kind, ref, title, body) VALUES ('prediction', new.id, new.text, '');
END;
CREATE TRIGGER search_note_insert AFTER INSERT ON notes BEGIN
    INSERT INTO search (kind, ref, title, body) VALUES ('note', new.id, new.text, '');
END;
CREATE TRIGGER search_run_insert AFTER INSERT ON runs BEGIN
    INSERT INTO search (kind, ref, title, body)
    VALUES ('run', new.id, coalesce(new.name, ''), coalesce(new.note, '') || ' ' || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.command)), ''));
END;
CREATE TRIGGER search_run_update AFTER UPDATE OF name, note ON runs BEGIN
    DELETE FROM search WHERE kind = 'run' AND ref = old.id;
    INSERT INTO search (kind, ref, title, body)
    VALUES ('run', new.id, coalesce(new.name, ''), coalesce(new.note, '') || ' ' || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.command)), ''));
END;

INSERT INTO search (kind, ref, title, body)
    SELECT 'hypothesis', id, text, coalesce(problem, '') || ' ' || coalesce(belief, '') FROM hypotheses;
INSERT INTO search (kind, ref, title, body) SELECT 'prediction', id, text, '' FROM predictions;
INSERT INTO search (kind, ref, title, body)
    SELECT 'run', r.id, coalesce(r.name, ''),
        coalesce(r.note, '') || ' ' || coalesce((SELECT group_concat(value, ' ') FROM json_each(r.command)), '')
    FROM runs r;
"""


V5 = """
ALTER TABLE runs ADD COLUMN sweep_id TEXT;
CREATE INDEX runs_sweep ON runs(sweep_id);
"""

V6 = """
ALTER TABLE runs ADD COLUMN job_id TEXT;
ALTER TABLE runs ADD COLUMN job_state TEXT;
"""


V7 = """
CREATE TABLE papers (
    id          INTEGER PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    norm_title  TEXT NOT NULL,   -- letters and digits, lower case: the last resort for duplicates
    authors     TEXT NOT NULL DEFAULT '[]',  -- JSON list of names as written
    year        INTEGER,
    venue       TEXT,
    doi         TEXT,            -- lower case, without https://doi.org/
    arxiv       TEXT,            -- without its version
    url         TEXT,
    abstract    TEXT,
    citekey     TEXT,
    entry_type  TEXT,
    source      TEXT NOT NULL,   -- bibtex / csl-json / ris / arxiv / manual
    added_at    REAL NOT NULL,
    decision    TEXT,            -- drop / skim / read / deep-read, once triaged
    output_kind TEXT,
    changes     TEXT,            -- yes / sometimes / no: does it change my work this quarter
    triaged_at  REAL
);
CREATE INDEX papers_doi ON papers(doi);
CREATE INDEX papers_arxiv ON papers(arxiv);
CREATE INDEX papers_norm_title ON papers(norm_title);
CREATE INDEX papers_triaged ON papers(triaged_at);

CREATE TABLE paper_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

ALTER TABLE predictions ADD COLUMN paper_id INTEGER REFERENCES papers(id);
CREATE INDEX predictions_paper ON predictions(paper_id);

CREATE TABLE problems (
    id          INTEGER PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    why         TEXT NOT NULL,
    attack      TEXT,            -- the angle of attack, NULL while not yet workable
    notes       TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    retired_at  REAL,
    retired_why TEXT
);

CREATE TABLE problem_links (
    hyp_id     INTEGER PRIMARY KEY REFERENCES hypotheses(id),
    problem_id INTEGER NOT NULL REFERENCES problems(id)
);
CREATE INDEX problem_links_problem ON problem_links(problem_id);

CREATE TABLE problem_matches (
    id         INTEGER PRIMARY KEY,
    text       TEXT NOT NULL,
    created_at REAL NOT NULL,
    ranked     TEXT NOT NULL     -- JSON [[problem_id, score], ...], best first
);

CREATE TABLE ideas (
    id         INTEGER PRIMARY KEY,
    uid        TEXT NOT NULL UNIQUE,
    text       TEXT NOT NULL,
    problem_id INTEGER REFERENCES problems(id),
    author     TEXT,
    created_at REAL NOT NULL,
    outcome    TEXT,             -- worked / failed / abandoned
    outcome_at REAL
);

CREATE TABLE idea_ratings (
    idea_id    INTEGER NOT NULL REFERENCES ideas(id),
    rater      TEXT NOT NULL,
    p          REAL NOT NULL,    -- probability that the idea works
    created_at REAL NOT NULL,
    PRIMARY KEY (idea_id, rater)
) WITHOUT ROWID;

CREATE TABLE tasks (
    id         INTEGER PRIMARY KEY,
    uid        TEXT NOT NULL UNIQUE,
    text       TEXT NOT NULL,
    p          REAL NOT NULL,    -- estimated probability that it succeeds
    hours      REAL NOT NULL,
    hyp_id     INTEGER REFERENCES hypotheses(id),
    created_at REAL NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open',  -- open / done / failed
    closed_at  REAL
);
CREATE INDEX tasks_status ON tasks(status);

CREATE TRIGGER search_paper_insert AFTER INSERT ON papers BEGIN
    INSERT INTO search (kind, ref, title, body)
    VALUES ('paper', new.id, new.title, coalesce(new.abstract, '') || ' ' || coalesce((SELECT group_concat(value, '; ') FROM json_each(new.authors)), ''));
END;
CREATE TRIGGER search_paper_update AFTER UPDATE OF title, abstract, authors ON papers BEGIN
    DELETE FROM search WHERE kind = 'paper' AND ref = old.id;
    INSERT INTO search (kind, ref, title, body)
    VALUES ('paper', new.id, new.title, coalesce(new.abstract, '') || ' ' || coalesce((SELECT group_concat(value, '; ') FROM json_each(new.authors)), ''));
END;
CREATE TRIGGER search_problem_insert AFTER INSERT ON problems BEGIN
    INSERT INTO search (kind, ref, title, body)
    VALUES ('problem', new.id, new.title, new.why || ' ' || coalesce(new.attack, '') || ' ' || new.notes);
END;
CREATE TRIGGER search_problem_update AFTER UPDATE OF title, why, attack, notes ON problems BEGIN
    DELETE FROM search WHERE kind = 'problem' AND ref = old.id;
    INSERT INTO search (kind, ref, title, body)
    VALUES ('problem', new.id, new.title, new.why || ' ' || coalesce(new.attack, '') || ' ' || new.notes);
END;
CREATE TRIGGER search_idea_insert AFTER INSERT ON ideas BEGIN
    INSERT INTO search (kind, ref, title, body) VALUES ('idea', new.id, new.text, '');
END;
"""


#: Per-example results, failure samples and piles (M10). ``examples`` holds one row per
#: (run, split, example id) with the user's fields as JSON; ``correct`` is a column so the
#: default sample (the failures) reads an index only. ``example_sets`` caches each
#: (run, split)'s sorted id hashes and outcomes as two arrays, so a diff of two 1M-example
#: runs is a numpy merge rather than a million index lookups; a write deletes its row.
V8 = """
CREATE TABLE examples (
    id       INTEGER PRIMARY KEY,
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    split    TEXT NOT NULL,
    ex_id    TEXT NOT NULL,
    correct  INTEGER,
    data     TEXT NOT NULL
);
CREATE UNIQUE INDEX examples_key ON examples(run_id, split, ex_id);
CREATE INDEX examples_correct ON examples(run_id, split, correct, ex_id);
CREATE TABLE example_fields (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    split    TEXT NOT NULL,
    field    TEXT NOT NULL,
    PRIMARY KEY (run_id, split, field)
) WITHOUT ROWID;
CREATE TABLE example_sets (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    split    TEXT NOT NULL,
    n        INTEGER NOT NULL,
    keys     BLOB NOT NULL,
    outcomes BLOB NOT NULL,
    PRIMARY KEY (run_id, split)
);
CREATE TABLE samples (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    split      TEXT NOT NULL,
    where_expr TEXT,
    stratify   TEXT,
    seed       INTEGER NOT NULL,
    requested  INTEGER NOT NULL,
    population INTEGER NOT NULL,
    cursor     INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE sample_items (
    sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    ex_id     TEXT NOT NULL,
    note      TEXT,
    PRIMARY KEY (sample_id, position),
    UNIQUE (sample_id, ex_id)
);
CREATE TABLE pile_members (
    sample_id  INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
    ex_id      TEXT NOT NULL,
    pile       TEXT NOT NULL,
    source     TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (sample_id, ex_id, pile)
);
CREATE TABLE hypothesis_piles (
    hyp_id    INTEGER NOT NULL REFERENCES hypotheses(id) ON DELETE CASCADE,
    sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
    pile      TEXT NOT NULL,
    count     INTEGER NOT NULL,
    reviewed  INTEGER NOT NULL,
    PRIMARY KEY (hyp_id, sample_id, pile)
);
"""


V9 = """
CREATE TABLE prediction_tags (
    prediction_id INTEGER NOT NULL REFERENCES predictions(id),
    tag           TEXT NOT NULL,
    PRIMARY KEY (prediction_id, tag)
) WITHOUT ROWID;
"""


V10 = """
ALTER TABLE metrics ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;  -- accepted by run.log, never written
"""


V11 = """
ALTER TABLE predictions ADD COLUMN scope TEXT;  -- JSON: --where / --diff / --verdict of a metric-tied prediction
"""


# v12: a run deleted (a pending run cancelled before it started) leaves the search index with it.
V12 = """
CREATE TRIGGER search_run_delete AFTER DELETE ON runs BEGIN
    DELETE FROM search WHERE kind = 'run' AND ref = old.id;
END;
DELETE FROM search WHERE kind = 'run' AND ref NOT IN (SELECT id FROM runs);
"""


# v13: notebook settings (lab settings): what a user would otherwise repeat on every command.
V13 = """
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,  -- JSON
    updated_at REAL NOT NULL
) WITHOUT ROWID;
"""


# v14: everyday use. A removed run goes to a trash (hidden from every reader until
# `lab rm --undo`, deleted by `lab gc`); an archived run is kept but left out of listings.
# Changes made to a run after the fact are journaled. Artifacts are files a run produced
# or depended on, kept once per content in the files area. A paper merged from several
# imports keeps every citation key it was imported under.
V14 = """
ALTER TABLE runs ADD COLUMN trashed_at REAL;
ALTER TABLE runs ADD COLUMN archived_at REAL;
CREATE INDEX runs_trashed ON runs(trashed_at) WHERE trashed_at IS NOT NULL;

CREATE TABLE run_events (
    id      INTEGER PRIMARY KEY,
    run_id  INTEGER NOT NULL,  -- no reference: the journal keeps a removal after lab gc deletes the run
    at      REAL NOT NULL,
    kind    TEXT NOT NULL,   -- tag / untag / rename / trash / restore / archive / unarchive
    detail  TEXT NOT NULL    -- JSON: what changed (the tag, the old and new name, the run's label)
);
CREATE INDEX run_events_at ON run_events(at);
CREATE INDEX run_events_run ON run_events(run_id);  -- a deleted run's id is never given again

CREATE TABLE artifacts (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT,             -- checkpoint / model / data / snapshot (an untracked source file) / ...
    hash       TEXT NOT NULL,    -- sha256 of the content, hex: its file in the files area
    size       INTEGER NOT NULL,
    source     TEXT,             -- the path it was copied from
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE INDEX artifacts_hash ON artifacts(hash);

CREATE TABLE paper_citekeys (
    paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    PRIMARY KEY (paper_id, key)
) WITHOUT ROWID;
CREATE INDEX paper_citekeys_key ON paper_citekeys(key);
INSERT INTO paper_citekeys (paper_id, key) SELECT id, citekey FROM papers WHERE citekey IS NOT NULL;

-- the stored command is the one that ran (placeholders filled after the run row exists): search sees it
DROP TRIGGER search_run_update;
CREATE TRIGGER search_run_update AFTER UPDATE OF name, note, command ON runs BEGIN
    DELETE FROM search WHERE kind = 'run' AND ref = old.id;
    INSERT INTO search (kind, ref, title, body)
    VALUES ('run', new.id, coalesce(new.name, ''), coalesce(new.note, '') || ' ' || coalesce((SELECT group_concat(value, ' ') FROM json_each(new.command)), ''));
END;
"""


# v15: the team server (lab server) and its clients. A server keeps the digests of its
# tokens and, per writer file of each run, how much it holds (its length and the points
# of each key), committed with the metric summaries of the same points; a client keeps
# what each server has acknowledged, so `lab sync` sends only what is missing.
V15 = """
CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,   -- read / write / admin
    hash         TEXT NOT NULL UNIQUE,  -- sha256 of the token, hex
    created_at   REAL NOT NULL,
    revoked_at   REAL,
    last_used_at REAL
);
CREATE TABLE uploads (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    writer TEXT NOT NULL,     -- the writer file's name in runs/<uid>/metrics, without .lbm
    bytes  INTEGER NOT NULL,  -- its length once these points were written
    counts TEXT NOT NULL,     -- JSON {key: points held}
    PRIMARY KEY (run_id, writer)
) WITHOUT ROWID;
CREATE TABLE sync_state (
    server TEXT NOT NULL,     -- the server's URL
    kind   TEXT NOT NULL,     -- run / hypothesis / prediction / note / ...
    uid    TEXT NOT NULL,
    digest TEXT NOT NULL,     -- of what was last acknowledged
    done   INTEGER NOT NULL DEFAULT 0,  -- a run: ended, and every point acknowledged
    at     REAL NOT NULL,
    PRIMARY KEY (server, kind, uid)
) WITHOUT ROWID;
"""
