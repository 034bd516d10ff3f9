"""Bundled 忌语 lexicon packs (data only; see README.md)."""
