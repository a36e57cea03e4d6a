"""The pure domain: codes, records, rules, eras, names. Imports nothing else of jukinet; no I/O."""
