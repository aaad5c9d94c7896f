"""The appliance's own software at central: signed Vigia releases, rolled out by the models' staged rollouts."""
