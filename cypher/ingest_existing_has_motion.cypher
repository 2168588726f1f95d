// Returns the existing (Clip)-[:HAS_MOTION]->(MotionPattern) links among the given pairs, with their properties.
// params: $rows (list of {source, target})
// surface: internal
UNWIND $rows AS row
MATCH (a:Clip {id: row.source})-[r:HAS_MOTION]->(b:MotionPattern {name: row.target})
RETURN row.source AS source, row.target AS target, properties(r) AS props
