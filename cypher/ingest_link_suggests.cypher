// Merges (SellingPoint)-[:SUGGESTS]->(MotionPattern) links between existing nodes; sets the given properties. Returns how many it merged.
// params: $rows (list of {source, target, props})
// surface: internal
UNWIND $rows AS row
MATCH (a:SellingPoint {id: row.source})
MATCH (b:MotionPattern {name: row.target})
MERGE (a)-[r:SUGGESTS]->(b)
SET r += row.props
RETURN count(r) AS merged
