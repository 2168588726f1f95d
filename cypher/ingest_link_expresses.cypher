// Merges (Clip)-[:EXPRESSES]->(SellingPoint) links between existing nodes; sets the given properties. Returns how many it merged.
// params: $rows (list of {source, target, props})
// surface: internal
UNWIND $rows AS row
MATCH (a:Clip {id: row.source})
MATCH (b:SellingPoint {id: row.target})
MERGE (a)-[r:EXPRESSES]->(b)
SET r += row.props
RETURN count(r) AS merged
