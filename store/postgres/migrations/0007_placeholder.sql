-- placeholder for local tests only (sessions helper owns 0007)
SELECT 1;
