// Returns where one clip's files are, for the web page's media routes: uri (the clip or still), thumb (its keyframe sheet); no row when the id is unknown.
// params: $clip (Clip id)
// surface: internal
MATCH (c:Clip {id: $clip})
RETURN c.uri AS uri, c.thumb AS thumb
