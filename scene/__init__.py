"""What happens in a camera's view: zones and lines, the rules that watch them, the events they make.

Shared by the appliance (on every analysed frame) and central's re-analysis (on every frame of a clip), so both
speak of the same events. It sits on `inference` (tracks) and imports nothing else of Vigia's.
"""
