-- Helpers the other files share (the database is throwaway: nothing drops them).
-- sqlstate_of(statement): 'ok', or the error it raised as 'SQLSTATE: message'.
CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
