// Returns the Product nodes among the given keys: key and properties (embedding left out).
// params: $keys (list of id values)
// surface: internal
UNWIND $keys AS key
MATCH (n:Product {id: key})
RETURN key, properties(n) AS props
