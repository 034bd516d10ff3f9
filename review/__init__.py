"""The review workbench: a store of flagged items imported from `jiyu scan` output, claimed and
decided by reviewers (`jiyu review ...`). It talks to the engine only through `detector.Detector`
and the scan output's JSON contract."""
