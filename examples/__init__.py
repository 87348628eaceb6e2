"""The example application: an astronomical alert broker's objects, detections and classifications."""
