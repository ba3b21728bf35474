-- The README's example: create both extensions and show what runs.
CREATE EXTENSION plts;
CREATE EXTENSION stopgap;
\echo
SELECT plts.version() AS plts, stopgap.version() AS stopgap;
