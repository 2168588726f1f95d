// Returns the existing (Product)-[:IN_CATEGORY]->(Category) links among the given pairs, with their properties.
// params: $rows (list of {source, target})
// surface: internal
UNWIND $rows AS row
MATCH (a:Product {id: row.source})-[r:IN_CATEGORY]->(b:Category {name: row.target})
RETURN row.source AS source, row.target AS target, properties(r) AS props
