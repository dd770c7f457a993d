"""Pictures: confusion matrices, filters, deconvnet projections, occlusion maps."""
