"""A procedural 2D world for image models: captioned scenes of coloured shapes with exact ground truth
(`world`), their pictures (`raster`) and a detector for every property (`detect`)."""
