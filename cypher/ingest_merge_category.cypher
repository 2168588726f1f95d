// Merges Category nodes by name; sets the given properties, keeps created_at once set. Returns how many rows it merged.
// params: $rows (list of {key, props, created_at})
// surface: internal
UNWIND $rows AS row
MERGE (n:Category {name: row.key})
SET n += row.props, n.created_at = coalesce(n.created_at, row.created_at)
RETURN count(n) AS merged
