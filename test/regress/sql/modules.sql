-- Modules: data: URLs, plts+artifact:, @stopgap/runtime, import maps, pointer stubs.
-- (Functions whose bodies embed artifact hashes are created with ECHO off: hashes depend on the
-- compiler fingerprint.)
SELECT plts.compile_and_store('export const twice = (x: number): number => 2 * x; export default "lib-v1";') AS lib \gset
SELECT plts.compile_and_store('export function greet(name: string) { return `hello ${name}`; }') AS greet \gset

-- plts+artifact:<hash>
\set ECHO none
SELECT format('CREATE FUNCTION uses_artifact(x int) RETURNS int LANGUAGE plts AS %L',
  format(E'import { twice } from "plts+artifact:%s";\nexport default (ctx: any) => twice(ctx.args.x);', :'lib')) \gexec
\set ECHO all
SELECT uses_artifact(21);

-- a bare name mapped by an inline import map (targets: plts+artifact:, sha256:, data:)
\set ECHO none
SELECT format('CREATE FUNCTION uses_map() RETURNS text LANGUAGE plts AS %L',
  format(E'// plts-import-map: {"lib": "plts+artifact:%s", "greeter": "%s", "inline": "data:text/javascript,export%%20const%%20v%%20%%3D%%207%%3B"}\n'
         'import label, { twice } from "lib";\nimport { greet } from "greeter";\nimport { v } from "inline";\n'
         'export default () => `${greet(label)} ${twice(v)}`;', :'lib', :'greet')) \gexec
\set ECHO all
SELECT uses_map();

-- data: URLs, percent-encoded and base64
CREATE FUNCTION uses_data() RETURNS text LANGUAGE plts AS $$
import { a } from "data:text/javascript,export const a = 'percent';";
import { b } from "data:text/javascript;base64,ZXhwb3J0IGNvbnN0IGIgPSAnYmFzZTY0Jzs=";
export default () => a + '+' + b;
$$;
SELECT uses_data();
CREATE FUNCTION data_not_js() RETURNS text LANGUAGE plts AS $$
import x from "data:application/json,{}";
export default () => typeof x;
$$;
SELECT data_not_js();

-- the built-in @stopgap/runtime
CREATE FUNCTION uses_runtime(args jsonb) RETURNS jsonb LANGUAGE plts AS $$
import { mutation, v } from "@stopgap/runtime";
export default mutation(v.object({ n: v.int() }), async (args) => ({ n: args.n, doubled: args.n * 2 }));
$$;
SELECT uses_runtime('{"n": 4}');
SELECT uses_runtime('{"n": "four"}');

-- an unmapped bare specifier and a missing artifact are errors that name them
CREATE FUNCTION unmapped() RETURNS int LANGUAGE plts AS $$
import { x } from "left-pad";
export default () => x;
$$;
SELECT unmapped();
CREATE FUNCTION missing_artifact() RETURNS int LANGUAGE plts AS $$
import { x } from "plts+artifact:sha256:0000000000000000000000000000000000000000000000000000000000000000";
export default () => x;
$$;
SELECT missing_artifact();
SELECT unmapped();  -- still a clear error, nothing half-linked left behind
CREATE FUNCTION bad_map() RETURNS int LANGUAGE plts AS $$
// plts-import-map: {"x": 42}
export default () => 1;
$$;

-- module instances are cached per context by artifact hash: state is shared by importers
SELECT plts.compile_and_store('let n = 0; export const next = () => ++n;') AS counter \gset
\set ECHO none
SELECT format('CREATE FUNCTION count_a() RETURNS int LANGUAGE plts AS %L',
  format(E'import { next } from "plts+artifact:%s";\nexport default () => next();', :'counter')) \gexec
\set ECHO all
\set ECHO none
SELECT format('CREATE FUNCTION count_b() RETURNS int LANGUAGE plts AS %L',
  format(E'import { next } from "plts+artifact:%s";\nexport default () => next() * 100;', :'counter')) \gexec
\set ECHO all
SELECT count_a(), count_b(), count_a();

-- an import cycle between artifacts (possible through import maps): both see each other
SELECT plts.compile_and_store(E'import { pong } from "pong";\nexport const ping = (n: number): string => n <= 0 ? "ping" : pong(n - 1);') AS ping \gset
SELECT plts.compile_and_store(E'import { ping } from "ping";\nexport const pong = (n: number): string => n <= 0 ? "pong" : ping(n - 1);') AS pong \gset
\set ECHO none
SELECT format('CREATE FUNCTION cycle(n int) RETURNS text LANGUAGE plts AS %L',
  format(E'// plts-import-map: {"ping": "plts+artifact:%s", "pong": "plts+artifact:%s"}\nimport { ping } from "ping";\nexport default (ctx: any) => ping(ctx.args.n);', :'ping', :'pong')) \gexec
\set ECHO all
SELECT cycle(0), cycle(1), cycle(4);

-- pointer stubs: a prosrc that names an artifact and an export, with an import map
SELECT plts.compile_and_store('export default (): string => "via a pointer";') AS pointed \gset
\set ECHO none
SELECT format('CREATE FUNCTION ptr_default() RETURNS text LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'pointed', 'export', 'default')) \gexec
\set ECHO all
SELECT ptr_default();
SELECT plts.compile_and_store('export const shout = (ctx: any) => String(ctx.args.s).toUpperCase(); export default 1;') AS shout \gset
\set ECHO none
SELECT format('CREATE FUNCTION ptr_named(s text) RETURNS text LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'shout', 'export', 'shout')) \gexec
\set ECHO all
SELECT ptr_named('quiet');
SELECT plts.compile_and_store(E'import { twice } from "dep";\nexport default (ctx: any) => twice(ctx.args.x);') AS uses_dep \gset
\set ECHO none
SELECT format('CREATE FUNCTION ptr_mapped(x int) RETURNS int LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'uses_dep',
                    'import_map', json_build_object('dep', 'plts+artifact:' || :'lib'))) \gexec
\set ECHO all
SELECT ptr_mapped(5);
-- the same artifact under two import maps: two instances, each linked through its own map
SELECT plts.compile_and_store('export const which = "b1";') AS b1 \gset
SELECT plts.compile_and_store('export const which = "b2";') AS b2 \gset
\set ECHO none
SELECT format('CREATE FUNCTION ptr_b1() RETURNS text LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'uses_dep',
                    'import_map', json_build_object('dep', 'plts+artifact:' || :'b1'))) \gexec
SELECT format('CREATE FUNCTION ptr_b2() RETURNS text LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'uses_dep',
                    'import_map', json_build_object('dep', 'plts+artifact:' || :'b2'))) \gexec
SELECT plts.compile_and_store(E'import { which } from "dep";\nexport default () => which;') AS uses_which \gset
SELECT format('CREATE OR REPLACE FUNCTION ptr_b1() RETURNS text LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'uses_which',
                    'import_map', json_build_object('dep', 'plts+artifact:' || :'b1'))) \gexec
SELECT format('CREATE OR REPLACE FUNCTION ptr_b2() RETURNS text LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'uses_which',
                    'import_map', json_build_object('dep', 'plts+artifact:' || :'b2'))) \gexec
\set ECHO all
SELECT ptr_b1(), ptr_b2(), ptr_b1();
-- repointing a stub's import map takes effect in the same session
\set ECHO none
SELECT format('CREATE OR REPLACE FUNCTION ptr_b1() RETURNS text LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'uses_which',
                    'import_map', json_build_object('dep', 'plts+artifact:' || :'b2'))) \gexec
\set ECHO all
SELECT ptr_b1() AS repointed;
-- an artifact's inline import map is read from its source (TypeScript drops a comment above an
-- erased declaration from the output)
SELECT plts.compile_and_store(format(E'// plts-import-map: {"dep": "plts+artifact:%s"}\ninterface Unused { a: number }\nimport { which } from "dep";\nexport default () => which;', :'b2')) AS commented \gset
SELECT position('plts-import-map' in compiled_js) = 0 AS comment_dropped_from_js FROM plts.get_artifact(:'commented');
\set ECHO none
SELECT format('CREATE FUNCTION ptr_commented() RETURNS text LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'commented')) \gexec
\set ECHO all
SELECT ptr_commented();

-- malformed stubs and missing artifacts are clear errors
CREATE FUNCTION ptr_bad() RETURNS int LANGUAGE plts AS '{"plts": 1, "kind": "artifact_ptr", "artifact_hash": "md5:abc"}';
CREATE FUNCTION ptr_bad() RETURNS int LANGUAGE plts AS '{"plts": 1, "kind": "something"}';
CREATE FUNCTION ptr_bad() RETURNS int LANGUAGE plts AS '{"plts": 2}';
CREATE FUNCTION ptr_bad() RETURNS int LANGUAGE plts AS '{"plts": 1, "kind": "artifact_ptr", "artifact_hash": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}';
SET check_function_bodies = off;
CREATE FUNCTION ptr_bad() RETURNS int LANGUAGE plts AS '{"plts": 1, "kind": "artifact_ptr", "artifact_hash": "sha256:1111111111111111111111111111111111111111111111111111111111111111"}';
RESET check_function_bodies;
SELECT ptr_bad();
\set ECHO none
SELECT format('CREATE FUNCTION ptr_no_export() RETURNS int LANGUAGE plts AS %L',
  json_build_object('plts', 1, 'kind', 'artifact_ptr', 'artifact_hash', :'lib', 'export', 'nope')) \gexec
\set ECHO all
SELECT ptr_no_export();

SET client_min_messages = warning;
DROP FUNCTION uses_artifact(int), uses_map(), uses_data(), data_not_js(), uses_runtime(jsonb), unmapped(),
  missing_artifact(), count_a(), count_b(), cycle(int), ptr_default(), ptr_named(text),
  ptr_mapped(int), ptr_bad(), ptr_no_export(), ptr_b1(), ptr_b2(), ptr_commented();
RESET client_min_messages;
