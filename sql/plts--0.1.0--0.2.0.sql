-- plts 0.1.0 -> 0.2.0. A fresh CREATE EXTENSION runs plts--0.1.0.sql and then this script, so a
-- new install and an upgraded one are the same database.
\echo Use "ALTER EXTENSION plts UPDATE TO '0.2.0'" to load this file. \quit
