// Returns one clip by id for MR-LoRA distillation: id, uri, caption (no row when the id is unknown).
// params: $clip (Clip id)
// surface: internal
MATCH (c:Clip {id: $clip})
RETURN c.id AS id, c.uri AS uri, c.caption AS caption
