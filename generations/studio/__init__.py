"""The member pages: Generate, Jobs, Gallery and clips, Projects, scenes and storyboards."""
