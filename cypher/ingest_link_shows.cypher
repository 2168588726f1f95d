// Merges (Clip)-[:SHOWS]->(Product) links between existing nodes; sets the given properties. Returns how many it merged.
// params: $rows (list of {source, target, props})
// surface: internal
UNWIND $rows AS row
MATCH (a:Clip {id: row.source})
MATCH (b:Product {id: row.target})
MERGE (a)-[r:SHOWS]->(b)
SET r += row.props
RETURN count(r) AS merged
