"""Rules for the fraud team: the rule language, rule-set versions and named lists."""
