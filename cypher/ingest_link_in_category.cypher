// Merges (Product)-[:IN_CATEGORY]->(Category) links between existing nodes; sets the given properties. Returns how many it merged.
// params: $rows (list of {source, target, props})
// surface: internal
UNWIND $rows AS row
MATCH (a:Product {id: row.source})
MATCH (b:Category {name: row.target})
MERGE (a)-[r:IN_CATEGORY]->(b)
SET r += row.props
RETURN count(r) AS merged
