-- Hot containers per route of each node (store.NodeInfo.HotRoutes), a JSON array of
-- {app, path, containers}: the console's overview sums them over the live nodes.
ALTER TABLE nodes ADD COLUMN hot_routes jsonb;
