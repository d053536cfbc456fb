"""Image generation (ImageJob, the images queue). Built by the image-generation issue."""
