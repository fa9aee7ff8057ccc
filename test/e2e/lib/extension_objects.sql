-- Every object of the nomnom extension in the current database, one sorted line each, with
-- what makes two installs differ: definitions, comments, grants, columns, constraints,
-- indexes, triggers, policies and pg_dump's configuration tables. Used to compare a fresh
-- install with one reached through ALTER EXTENSION nomnom UPDATE.
\pset format unaligned
\pset tuples_only on
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'nomnom'),
members AS (
    SELECT d.classid, d.objid, d.objsubid
    FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
),
lines AS (
    -- the object itself and its comment
    SELECT pg_describe_object(classid, objid, objsubid)
           || ' | comment: ' || coalesce(obj_description(objid, classid::regclass::text), '<none>') AS line
    FROM members
    UNION ALL
    -- functions: the whole definition (volatility, strictness, security, settings) and grants
    SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
           || ' | acl: ' || coalesce(p.proacl::text, '<default>')
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    WHERE p.prokind <> 'a'
    UNION ALL
    -- relations: kind, options, row security, grants, and a view's query
    SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text
           || ' | options: ' || coalesce(c.reloptions::text, '<none>')
           || ' | rls: ' || c.relrowsecurity || '/' || c.relforcerowsecurity
           || ' | acl: ' || coalesce(c.relacl::text, '<default>')
           || coalesce(E'\n' || pg_get_viewdef(c.oid) , '')
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    -- columns: position, type, nullability, default, comment, grants
    SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' #' || a.attnum
           || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || CASE WHEN a.attidentity <> ''::"char" THEN ' identity ' || a.attidentity::text ELSE '' END
           || CASE WHEN a.attgenerated <> ''::"char" THEN ' generated ' || a.attgenerated::text ELSE '' END
           || ' | comment: ' || coalesce(col_description(c.oid, a.attnum), '<none>')
           || ' | acl: ' || coalesce(a.attacl::text, '<default>')
    FROM members m
    JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
           || ' | comment: ' || coalesce(obj_description(co.oid, 'pg_constraint'), '<none>')
    FROM members m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid)
    FROM members m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT 'policy ' || pol.polrelid::regclass || ' ' || pol.polname || ' ' || pol.polcmd::text
           || ' roles ' || pol.polroles::regrole[]::text
           || ' using ' || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
           || ' check ' || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '')
    FROM members m JOIN pg_policy pol ON m.classid = 'pg_class'::regclass AND pol.polrelid = m.objid
    UNION ALL
    -- what pg_dump dumps of the extension's own tables
    SELECT 'config dump ' || cfg::regclass || ' where ' || coalesce(cond, '')
    FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
    WHERE e.extname = 'nomnom'
    UNION ALL
    SELECT 'schema nomnom | acl: ' || coalesce(n.nspacl::text, '<default>')
           || ' | comment: ' || coalesce(obj_description(n.oid, 'pg_namespace'), '<none>')
    FROM pg_namespace n WHERE n.nspname = 'nomnom'
)
SELECT line FROM lines ORDER BY line;
