-- Schema 4: tasks that need secrets wait for Gantry's own workers.
--
-- needs_secrets is store.Task.NeedsSecrets (its route's or its own secrets are named), set
-- when the task is accepted: LeaseTasksWithoutSecrets, the lease of external runners,
-- passes over those rows, which keep their place in line for the workers that lease
-- everything. Tasks accepted before this schema are read from their document (task: the
-- route's secrets under route.secrets, the call's own under secrets; json, so each is
-- checked to be an array before its length is read).

ALTER TABLE tasks ADD COLUMN needs_secrets boolean NOT NULL DEFAULT false;

UPDATE tasks SET needs_secrets = true
WHERE CASE WHEN json_typeof(task->'route'->'secrets') = 'array' THEN json_array_length(task->'route'->'secrets') > 0 ELSE false END
   OR CASE WHEN json_typeof(task->'secrets') = 'array' THEN json_array_length(task->'secrets') > 0 ELSE false END;

-- The line of external runners: the tasks without secrets, in the order of tasks_in_line,
-- so that their lease does not walk past every task that needs secrets to find its own.
CREATE INDEX tasks_in_line_without_secrets ON tasks (priority, available_at, id) WHERE NOT needs_secrets;
