// Returns the MotionPattern nodes among the given keys: key and properties (embedding left out).
// params: $keys (list of name values)
// surface: internal
UNWIND $keys AS key
MATCH (n:MotionPattern {name: key})
RETURN key, properties(n) AS props
