"""The staff console under /console (issue 4); see docs/console.md."""
